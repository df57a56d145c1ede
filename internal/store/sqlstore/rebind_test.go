package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	t.Parallel()
	d := &Dialect{DollarPlaceholders: true}
	for in, want := range map[string]string{
		"SELECT 1":                            "SELECT 1",
		"a = ? AND b = ?":                     "a = $1 AND b = $2",
		"a = ?2 AND b = ?1 AND c = ?2":        "a = $2 AND b = $1 AND c = $2",
		"x = '?' AND y = ?":                   "x = '?' AND y = $1",
		"key = 'admin_token_hash' AND v = ? ": "key = 'admin_token_hash' AND v = $1 ",
		"VALUES (?, ?, ?)":                    "VALUES ($1, $2, $3)",
	} {
		if got := d.rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (&Dialect{}).rebind("a = ?"); got != "a = ?" {
		t.Errorf("sqlite dialect changed %q", got)
	}
}
