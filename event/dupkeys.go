package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// checkDuplicateKeys rejects an object with the same key twice at any
// depth, ignoring case. encoding/json would silently keep the last value
// (and matches struct fields ignoring case), so a payload could say one
// thing to one parser and another to the next.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys     map[string]bool
		isObject bool
		wantKey  bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // syntax errors are reported by the decoder proper
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if top != nil && top.isObject {
					top.wantKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, isObject: true, wantKey: true})
			case '[':
				if top != nil && top.isObject {
					top.wantKey = true
				}
				stack = append(stack, &frame{})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.isObject && top.wantKey {
				k := strings.ToLower(t)
				if top.keys[k] {
					return invalid("json", "duplicate key %q (keys are compared ignoring case)", t)
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
			if top != nil && top.isObject {
				top.wantKey = true
			}
		default:
			if top != nil && top.isObject {
				top.wantKey = true
			}
		}
	}
}
