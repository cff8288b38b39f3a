package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// writeRaw writes a value kept as its JSON text (record fields, changes)
// re-encoded the way Build writes everything else: compact, with <, > and
// & as themselves, numbers exactly as written (json.Number keeps the
// literal, so big integers stay exact) and object members in their order.
//
// A real delivery's values have passed through Temporal's JSON data
// converter, which HTML-escapes them inside json.RawMessage (\u003c for
// <); a Test fire's sample values have not. Decoding every string and
// encoding it again without HTML escaping gives both paths the same bytes.
func writeRaw(b *bytes.Buffer, raw json.RawMessage) error {
	if len(raw) == 0 {
		b.WriteString("null")
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		object bool
		n      int // tokens written inside: keys and values
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			b.WriteByte(byte(d))
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.object && top.n%2 == 1:
				b.WriteByte(':') // a member's value follows its key
			case top.n > 0:
				b.WriteByte(',')
			}
			top.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			stack = append(stack, frame{object: v == '{'})
			b.WriteByte(byte(v))
		case json.Number:
			b.WriteString(v.String())
		case string:
			writeJSON(b, v)
		case bool:
			if v {
				b.WriteString("true")
			} else {
				b.WriteString("false")
			}
		case nil:
			b.WriteString("null")
		}
	}
	if len(stack) != 0 {
		return errors.New("not valid JSON: unexpected end")
	}
	return nil
}
