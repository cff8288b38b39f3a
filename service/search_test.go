package service

import (
	"os"
	"regexp"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
)

// deploy/create-namespace.sh (make stack, docker-compose) creates exactly
// the search attributes the workflows set, with their types.
func TestCreateNamespaceScriptListsEverySearchAttribute(t *testing.T) {
	b, err := os.ReadFile("../deploy/create-namespace.sh")
	if err != nil {
		t.Fatal(err)
	}
	cli := map[enumspb.IndexedValueType]string{
		enumspb.INDEXED_VALUE_TYPE_KEYWORD:      "Keyword",
		enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
		enumspb.INDEXED_VALUE_TYPE_TEXT:         "Text",
		enumspb.INDEXED_VALUE_TYPE_INT:          "Int",
		enumspb.INDEXED_VALUE_TYPE_DOUBLE:       "Double",
		enumspb.INDEXED_VALUE_TYPE_BOOL:         "Bool",
		enumspb.INDEXED_VALUE_TYPE_DATETIME:     "Datetime",
	}
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`\b(Hari[A-Za-z]+):([A-Za-z]+)\b`).FindAllStringSubmatch(string(b), -1) {
		got[m[1]] = m[2]
	}
	want := searchAttributes()
	for name, typ := range want {
		if got[name] != cli[typ] {
			t.Errorf("create-namespace.sh: %s has type %q, want %q", name, got[name], cli[typ])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("create-namespace.sh creates %s, which no workflow sets", name)
		}
	}
}
