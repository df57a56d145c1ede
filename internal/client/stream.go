package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chathooks/chathooks/internal/api"
	"github.com/chathooks/chathooks/internal/chat"
)

// StreamOptions tune Stream.
type StreamOptions struct {
	// After is the room event sequence number to resume after (the SSE Last-Event-ID);
	// negative means from now on, 0 from the room's first event.
	After int64
	// UserID, when set, is the user watching: present while the stream is open.
	UserID string
	// Notice, when set, is told about connections lost and made again.
	Notice func(string)
	// MaxBackoff caps the wait between reconnections (default 10 s).
	MaxBackoff time.Duration
}

// Stream follows a room's live stream, calling fn with each event in order. When the
// connection drops (server restart, network) it reconnects with Last-Event-ID set to the
// last event seen, so no event is missed or repeated. It returns when ctx ends (nil), when fn
// returns an error, or when the server refuses the stream (unknown room, bad token).
func (c *Client) Stream(ctx context.Context, room string, o StreamOptions, fn func(chat.Event) error) error {
	last := o.After
	maxBackoff := o.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 10 * time.Second
	}
	backoff := 250 * time.Millisecond
	for {
		got, err := c.streamOnce(ctx, room, o.UserID, &last, fn)
		if ctx.Err() != nil {
			return nil
		}
		var apiErr *Error
		var fnErr fnError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.As(err, &apiErr) && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests:
			return err
		}
		if got {
			backoff = 250 * time.Millisecond
		}
		if o.Notice != nil {
			msg := "the server closed the stream"
			if err != nil {
				msg = "connection lost (" + err.Error() + ")"
			}
			o.Notice(fmt.Sprintf("%s; reconnecting in %s to resume after event %d", msg, backoff, max(last, 0)))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// fnError marks an error returned by the caller's function, which ends Stream.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// streamOnce reads one connection of the stream, advancing *last with each event. got
// reports whether the connection was established.
func (c *Client) streamOnce(ctx context.Context, room, user string, last *int64, fn func(chat.Event) error) (got bool, err error) {
	u := c.base + api.Prefix + "/rooms/" + url.PathEscape(room) + "/stream"
	if user != "" {
		u += "?user_id=" + url.QueryEscape(user)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	if *last >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*last, 10))
	}
	resp, err := c.streamHTTP.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return false, decodeError(resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var id, data string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data == "" {
				id = ""
				continue
			}
			var e chat.Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return true, fmt.Errorf("client: stream event %s: %w", id, err)
			}
			if err := fn(e); err != nil {
				return true, fnError{err}
			}
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				*last = n
			}
			id, data = "", ""
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "data":
			if data != "" {
				data += "\n"
			}
			data += value
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	return true, nil
}
