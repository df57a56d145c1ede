package chat

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX":       "https://hooks.slack.com/services/T000/B000/****",
		"https://chat.example.com/hooks/xw7gq3kz9fbfdmo6d1y5rj4p7e":                 "https://chat.example.com/hooks/****",
		"https://chat.googleapis.com/v1/spaces/AAAA/messages?key=AIza&token=abc%3D": "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=****&token=****",
		"https://hooks.chime.aws/incomingwebhooks/0f2c6a8e?token=SECRET":            "https://hooks.chime.aws/incomingwebhooks/****?token=****",
		"https://user:pass@example.com/a/b/#frag":                                   "https://example.com/a/****",
		"https://example.com/": "https://example.com/",
		"not a url":            "****",
		"http://127.0.0.1:8080/services/ops/wh_1/tok?x=1&x=2":                                 "http://127.0.0.1:8080/services/ops/wh_1/****?x=****",
		"https://chat.googleapis.com/v1/spaces/AAAA/messages?token=t&messageReplyOption=X&a=": "https://chat.googleapis.com/v1/spaces/AAAA/messages?a=****&messageReplyOption=****&token=****",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
