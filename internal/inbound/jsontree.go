package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// node is a JSON value that keeps object keys in document order (cards and blocks are
// rendered in the order they were written).
type node struct {
	str    string // string value (also numbers and booleans, as written)
	isStr  bool
	keys   []string
	vals   []*node // object values, parallel to keys
	items  []*node // array items
	isObj  bool
	isList bool
}

// maxTreeDepth and maxTreeNodes bound what parseTree accepts.
const (
	maxTreeDepth = 64
	maxTreeNodes = 100000
)

var errTreeTooDeep = errors.New("JSON nested too deeply")

// parseTree decodes one JSON value.
func parseTree(b []byte) (*node, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	budget := maxTreeNodes
	n, err := readNode(d, 0, &budget)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return n, nil
}

func readNode(d *json.Decoder, depth int, budget *int) (*node, error) {
	if depth > maxTreeDepth {
		return nil, errTreeTooDeep
	}
	*budget--
	if *budget < 0 {
		return nil, errors.New("JSON has too many values")
	}
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{isObj: true}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := readNode(d, depth+1, budget)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			_, err := d.Token()
			return n, err
		case '[':
			n := &node{isList: true}
			for d.More() {
				v, err := readNode(d, depth+1, budget)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			_, err := d.Token()
			return n, err
		}
		return nil, errors.New("unexpected delimiter")
	case string:
		return &node{str: t, isStr: true}, nil
	case json.Number:
		return &node{str: t.String()}, nil
	case bool:
		if t {
			return &node{str: "true"}, nil
		}
		return &node{str: "false"}, nil
	default: // null
		return &node{}, nil
	}
}

// get returns the value of key in an object (nil if absent or not an object).
func (n *node) get(key string) *node {
	if n == nil || !n.isObj {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// text returns the string value of key ("" if absent or not a string).
func (n *node) text(key string) string {
	v := n.get(key)
	if v == nil || !v.isStr {
		return ""
	}
	return v.str
}

// path follows keys through nested objects.
func (n *node) path(keys ...string) *node {
	for _, k := range keys {
		n = n.get(k)
	}
	return n
}
