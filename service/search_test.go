package service

import (
	"os"
	"regexp"
	"slices"
	"strings"
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

// The worker refuses a namespace that lacks one of our search attributes
// (or has it with another type), naming each and the command that adds
// it; a namespace with all of them (and others) passes.
func TestMissingSearchAttributesNamedWithTheCommand(t *testing.T) {
	want := searchAttributes()
	all := map[string]enumspb.IndexedValueType{"Other": enumspb.INDEXED_VALUE_TYPE_INT}
	for k, v := range want {
		all[k] = v
	}
	if err := missingSearchAttributes("prod", want, all); err != nil {
		t.Errorf("every attribute registered: got %v, want nil", err)
	}
	without := map[string]enumspb.IndexedValueType{}
	for k, v := range all {
		if k != "HariSkippedKeys" {
			without[k] = v
		}
	}
	without["HariRedeliveryOf"] = enumspb.INDEXED_VALUE_TYPE_TEXT
	err := missingSearchAttributes("prod", want, without)
	if err == nil {
		t.Fatal("HariSkippedKeys missing: got nil, want an error")
	}
	for _, s := range []string{
		"HariSkippedKeys (KeywordList) is missing",
		"temporal operator search-attribute create --namespace prod --name HariSkippedKeys --type KeywordList",
		"HariRedeliveryOf has type Text, want Keyword",
		"--name HariRedeliveryOf --type Keyword",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error: got %q, want it to contain %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "HariWorkspace") {
		t.Errorf("error: got %q, want HariWorkspace (registered) not named", err)
	}
}

// `make run` (scripts/run.sh) creates the dev server's namespace with
// exactly the search attributes the workflows set, with their types.
func TestRunScriptCreatesEverySearchAttribute(t *testing.T) {
	b, err := os.ReadFile("../scripts/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`--search-attribute (\S+)`).FindAllStringSubmatch(string(b), -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if want := CLISearchAttributes(); !slices.Equal(got, want) {
		t.Errorf("scripts/run.sh passes --search-attribute %q, want %q", got, want)
	}
}
