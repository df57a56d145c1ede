package delivery

import "testing"

func TestSafeURLDropsQueryAndUserInfo(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@hooks.example.com/a/b?token=secret#frag": "https://hooks.example.com/a/b",
		"http://127.0.0.1:8080/hook":                              "http://127.0.0.1:8080/hook",
		"::not a url":                                             "(unparsable URL)",
	} {
		if got := safeURL(in); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", in, got, want)
		}
	}
}
