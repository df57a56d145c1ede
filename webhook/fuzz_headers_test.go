package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzSignatureHeaders feeds arbitrary signature header values to every verifier: none
// panics, none accepts a value other than the one signing produces for the body.
func FuzzSignatureHeaders(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "msg_1", "1700000000", "v1,abc v1a,xyz", "deadbeef", "c2lnbmF0dXJl")
	f.Add([]byte(""), "", "", "", "", "")
	f.Add([]byte("x"), "m", "-1", "v1,", "ZZ", "====")
	f.Add([]byte("x"), "m", "99999999999999999999", "v1,"+string(make([]byte, 200)), "00", "AA==")
	f.Fuzz(func(t *testing.T, body []byte, msgID, ts, stdSig, sbSig, rbmSig string) {
		key := []byte("0123456789abcdef0123456789abcdef")
		h := http.Header{}
		h.Set(HeaderWebhookID, msgID)
		h.Set(HeaderWebhookTimestamp, ts)
		h.Set(HeaderWebhookSignature, stdSig)
		now := time.Unix(1700000000, 0)
		if VerifyStandard([][]byte{key}, h, body, now, 5*time.Minute) == nil {
			want := StandardSignature([][]byte{key}, msgID, time.Unix(1700000000, 0), body)
			ok := false
			for _, part := range strings.Fields(stdSig) {
				for _, w := range strings.Fields(want) {
					if part == w {
						ok = true
					}
				}
			}
			if !ok {
				t.Fatalf("VerifyStandard accepted %q for a body signed %q", stdSig, want)
			}
		}
		if VerifySendbird("secret", body, sbSig) && sbSig != SendbirdSignature("secret", body) {
			t.Fatalf("VerifySendbird accepted %q", sbSig)
		}
		if VerifyRBM("token", body, rbmSig) && rbmSig != RBMSignature("token", body) {
			t.Fatalf("VerifyRBM accepted %q", rbmSig)
		}
	})
}
