package sqlstore

import (
	"encoding/json"
	"fmt"

	"github.com/chathooks/chathooks/internal/chat"
)

// relayColumn is the JSON of the endpoints.relay column: the room scope, body template and
// hop limit.
type relayColumn struct {
	RoomIDs  []string `json:"room_ids,omitempty"`
	Template string   `json:"template,omitempty"`
	MaxHops  int      `json:"max_hops,omitempty"`
}

func encodeRelay(e chat.Endpoint) (string, error) {
	b, err := json.Marshal(relayColumn{RoomIDs: e.RoomIDs, Template: e.Template, MaxHops: e.MaxHops})
	if err != nil {
		return "", fmt.Errorf("store: encode endpoint relay settings: %w", err)
	}
	return string(b), nil
}

func decodeRelay(s string, e *chat.Endpoint) error {
	var c relayColumn
	if s != "" {
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return fmt.Errorf("store: decode endpoint relay settings: %w", err)
		}
	}
	e.RoomIDs, e.Template, e.MaxHops = c.RoomIDs, c.Template, c.MaxHops
	return nil
}
