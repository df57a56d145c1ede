package relay

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
)

// A template is a program, and without bounds a short one runs or allocates without end:
// a range over a large number, ranges nested over a long list, templates calling each
// other two at a time, a string doubled by printf or js again and again. Each execution
// therefore has a budget of steps (range iterations and template calls) and of the bytes
// string functions return, and no function that can enlarge its input returns more than a
// body may hold.
const (
	// maxSteps bounds the range iterations (counted when a range starts, by the length of
	// what it ranges over) plus the template calls of one execution.
	maxSteps = 100_000
	// maxFuncBytes bounds the bytes all string functions return in one execution, and
	// what one of them may build before its result is judged.
	maxFuncBytes = 64 * MaxBodyBytes
)

var (
	errSteps      = fmt.Errorf("the template ran more than %d loop iterations and template calls", maxSteps)
	errFuncBytes  = fmt.Errorf("the template's functions returned more than %d bytes", maxFuncBytes)
	errFuncResult = fmt.Errorf("a function's result would be larger than %d bytes", MaxBodyBytes)
)

// budgetErr returns the budget error err wraps, if any.
func budgetErr(err error) error {
	for _, e := range []error{errSteps, errFuncBytes, errFuncResult, errTooLarge} {
		if errors.Is(err, e) {
			return e
		}
	}
	return nil
}

// budget is what one execution has used. text/template runs an execution on one
// goroutine, so it needs no lock. A nil budget (the function map templates are parsed
// with) counts nothing.
type budget struct {
	steps int
	bytes int
}

func (b *budget) step(n int) error {
	if b == nil {
		return nil
	}
	if n > maxSteps-b.steps {
		return errSteps
	}
	b.steps += n
	return nil
}

// result accounts for a string a function that can enlarge its input returns: longer
// than a body it is refused, since applying such functions again and again would
// multiply it.
func (b *budget) result(s string, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if len(s) > MaxBodyBytes {
		return "", errFuncResult
	}
	return b.count(s)
}

// count accounts for a string a function returns.
func (b *budget) count(s string) (string, error) {
	if b != nil {
		if b.bytes += len(s); b.bytes > maxFuncBytes {
			return "", errFuncBytes
		}
	}
	return s, nil
}

// Names of the step counters guard inserts.
const (
	rangeGuard = "chathooksRangeStep"
	callGuard  = "chathooksCallStep"
)

// budgetFuncs are the step counters and the built-in string functions replaced by
// versions that refuse to build a result past the budget before building it.
func budgetFuncs(b *budget) template.FuncMap {
	return template.FuncMap{
		rangeGuard: func(v any) (any, error) { return v, b.step(rangeLen(v)) },
		callGuard: func(v ...any) (any, error) {
			if err := b.step(1); err != nil || len(v) == 0 {
				return nil, err
			}
			return v[0], nil
		},
		"print": func(args ...any) (string, error) {
			if printBound(args) > maxFuncBytes {
				return "", errFuncResult
			}
			return b.result(fmt.Sprint(args...), nil)
		},
		"println": func(args ...any) (string, error) {
			if printBound(args) > maxFuncBytes {
				return "", errFuncResult
			}
			return b.result(fmt.Sprintln(args...), nil)
		},
		"printf": func(format string, args ...any) (string, error) {
			if printfBound(format, args) > maxFuncBytes {
				return "", errFuncResult
			}
			return b.result(fmt.Sprintf(format, args...), nil)
		},
		// An escaper writes at most 6 bytes (\u003C, &#34;) for one.
		"html":     escaper(b, template.HTMLEscaper),
		"js":       escaper(b, template.JSEscaper),
		"urlquery": escaper(b, template.URLQueryEscaper),
	}
}

func escaper(b *budget, esc func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) {
		if printBound(args) > maxFuncBytes/6 {
			return "", errFuncResult
		}
		return b.result(esc(args...), nil)
	}
}

// rangeLen is how many iterations a range over v runs.
func rangeLen(v any) int {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return 0
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(min(max(rv.Int(), 0), maxSteps+1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(min(rv.Uint(), maxSteps+1))
	case reflect.Array, reflect.Slice, reflect.Map, reflect.Chan:
		return rv.Len()
	case reflect.Func:
		return maxSteps + 1 // an iterator's length is unknown (the data holds none)
	}
	return 0
}

// intSize is the magnitude of an integer v (at most math.MaxInt32).
func intSize(v any) (int, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if n < 0 {
			n = -max(n, -math.MaxInt32)
		}
		return int(min(n, math.MaxInt32)), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(min(rv.Uint(), math.MaxInt32)), true
	}
	return 0, false
}

// printBound is an upper bound of the length fmt.Sprint or Sprintln gives args.
func printBound(args []any) int {
	n := len(args) + 1
	for _, a := range args {
		if s, ok := a.(string); ok {
			n += len(s)
		} else {
			n += len(fmt.Sprint(a))
		}
	}
	return n
}

// printfBound is an upper bound of len(fmt.Sprintf(format, args...)): each verb (at most
// one per '%') prints one argument, at most 5 bytes for each of its bytes ("% #x"), padded
// to at most the widest width or precision (a number in the format, or an argument when
// the format takes one with '*'; fmt refuses more than 10⁶).
func printfBound(format string, args []any) int {
	const widthCap = 1_000_000
	widest := 0
	for i := 0; i < len(format); {
		j := i
		v := 0
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			v = min(v*10+int(format[j]-'0'), widthCap+1)
			j++
		}
		widest = max(widest, v)
		i = max(j, i+1)
	}
	star := strings.Contains(format, "*")
	longest := 0
	for _, a := range args {
		if star {
			if w, ok := intSize(a); ok {
				widest = max(widest, min(w, widthCap+1))
			}
		}
		if s, ok := a.(string); ok {
			longest = max(longest, 5*len(s))
		} else {
			// %#v is the longest of the generic verbs; a float in %f needs up to 310
			// digits before the precision.
			longest = max(longest, 5*len(fmt.Sprintf("%#v", a))+512)
		}
	}
	verbs := strings.Count(format, "%")
	per := min(longest+widest, math.MaxInt32)
	if verbs > 0 && per > (math.MaxInt-len(format))/verbs {
		return math.MaxInt
	}
	return len(format) + verbs*per
}

// guard makes every range and template call of t, and of the templates it defines, pass
// through a step counter: {{range P}} runs as {{range P | chathooksRangeStep}} and
// {{template "x" P}} as {{template "x" P | chathooksCallStep}}.
func guard(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			guardList(tt.Tree, tt.Tree.Root)
		}
	}
}

func guardList(tr *parse.Tree, l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ListNode:
			guardList(tr, n)
		case *parse.IfNode:
			guardList(tr, n.List)
			guardList(tr, n.ElseList)
		case *parse.WithNode:
			guardList(tr, n.List)
			guardList(tr, n.ElseList)
		case *parse.RangeNode:
			n.Pipe = withStep(tr, n.Pipe, rangeGuard, n.Position())
			guardList(tr, n.List)
			guardList(tr, n.ElseList)
		case *parse.TemplateNode:
			n.Pipe = withStep(tr, n.Pipe, callGuard, n.Position())
		}
	}
}

// withStep appends a call of the counter name to pipeline p (or makes it the pipeline).
func withStep(tr *parse.Tree, p *parse.PipeNode, name string, pos parse.Pos) *parse.PipeNode {
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(name).SetTree(tr).SetPos(pos)}}
	if p == nil {
		return &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}
	}
	p.Cmds = append(p.Cmds, cmd)
	return p
}
