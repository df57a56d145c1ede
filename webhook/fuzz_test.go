package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// FuzzVerifyStandard feeds arbitrary header values and bodies to VerifyStandard, with two
// fixed secrets (the golden one and another). It must never panic, must only return the
// documented errors, and must accept exactly when the header holds, as a space-separated item,
// "v1," + the signature computed independently with crypto/hmac for one of the secrets (and
// the timestamp is within tolerance). The seeds in testdata/fuzz/FuzzVerifyStandard include
// valid headers, so mutations explore near-misses.
func FuzzVerifyStandard(f *testing.F) {
	f.Add(goldenID, "1614265330", goldenHeader, []byte(goldenBody))
	f.Add(goldenID, "1614265330", "v1a,AAAA "+goldenHeader, []byte(goldenBody))
	f.Add("", "", "", []byte(nil))

	keys := [][]byte{mustKey(f, goldenSecret), []byte("second fuzz secret")}
	f.Fuzz(func(t *testing.T, id, tsText, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", tsText)
		h.Set("webhook-signature", sig)

		unix, perr := strconv.ParseInt(tsText, 10, 64)
		nows := []time.Time{time.Unix(goldenUnix, 0)}
		if perr == nil && unix > -1<<40 && unix < 1<<40 {
			nows = append(nows, time.Unix(unix, 0), time.Unix(unix, 0).Add(-4*time.Minute))
		}
		for _, now := range nows {
			err := VerifyStandard(keys, h, body, now, 0)
			if err != nil && !errors.Is(err, ErrMissingHeaders) && !errors.Is(err, ErrTimestamp) && !errors.Is(err, ErrNoMatch) {
				t.Fatalf("undocumented error %v", err)
			}
			if id == "" || tsText == "" || sig == "" {
				if !errors.Is(err, ErrMissingHeaders) {
					t.Fatalf("missing header: err = %v", err)
				}
				continue
			}
			if perr != nil {
				if !errors.Is(err, ErrTimestamp) {
					t.Fatalf("unparsable timestamp %q: err = %v", tsText, err)
				}
				continue
			}
			inTolerance := unix > -1<<40 && unix < 1<<40 && absDuration(now.Sub(time.Unix(unix, 0))) <= DefaultTolerance
			holdsRight := false
			for _, k := range keys {
				want := "v1," + independentV1(k, id, unix, body)
				for _, item := range strings.Split(sig, " ") {
					if item == want {
						holdsRight = true
					}
				}
			}
			switch {
			case err == nil && !(holdsRight && inTolerance):
				t.Fatalf("accepted id=%q ts=%q sig=%q body=%q (right signature present: %v, in tolerance: %v)", id, tsText, sig, body, holdsRight, inTolerance)
			case err != nil && holdsRight && inTolerance:
				t.Fatalf("rejected a correct message: %v", err)
			case err != nil && !inTolerance && !errors.Is(err, ErrTimestamp):
				t.Fatalf("out of tolerance but err = %v", err)
			}
		}
	})
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// FuzzDecodeStandardSecret: never panics; what it accepts is non-empty, made of the standard
// alphabet only, and agrees with the reference library (same HMAC key, checked by signing)
// whenever the library accepts the same string; the only strings we accept and the library
// refuses are unpadded ones.
func FuzzDecodeStandardSecret(f *testing.F) {
	for _, s := range []string{goldenSecret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_aGVsbG8", "whsec_aGVsbG8=", "whsec_", "", "whsec_-_", "whsec_a\nGVs", "whsec_AB=="} {
		f.Add(s)
	}
	ts := time.Unix(goldenUnix, 0)
	body := []byte(goldenBody)
	f.Fuzz(func(t *testing.T, s string) {
		key, err := DecodeStandardSecret(s)
		wh, libErr := standardwebhooks.NewWebhook(s)
		if err != nil {
			if key != nil {
				t.Fatalf("error with a key: %v", err)
			}
			// The library accepts more only via characters encoding/base64 skips, or the empty key.
			rest := strings.TrimPrefix(s, StandardSecretPrefix)
			if libErr == nil && rest != "" && !strings.ContainsAny(rest, "\r\n") {
				t.Fatalf("the library accepts %q, we refuse: %v", s, err)
			}
			return
		}
		if len(key) == 0 {
			t.Fatalf("accepted %q as an empty key", s)
		}
		rest := strings.TrimPrefix(s, StandardSecretPrefix)
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; !(c == '=' || c == '+' || c == '/' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
				t.Fatalf("accepted %q with byte %q", s, c)
			}
		}
		if want := len(strings.TrimRight(rest, "=")) * 6 / 8; len(key) != want {
			t.Fatalf("%q decoded to %d bytes", s, len(key))
		}
		if libErr != nil {
			if len(rest)%4 == 0 {
				t.Fatalf("we accept %q, the library refuses: %v", s, libErr)
			}
			return
		}
		ours := StandardSignature([][]byte{key}, goldenID, ts, body)
		theirs, _ := wh.Sign(goldenID, ts, body)
		if ours != theirs {
			t.Fatalf("%q: we sign %q, the library %q", s, ours, theirs)
		}
		again, err := DecodeStandardSecret(StandardSecretPrefix + base64.StdEncoding.EncodeToString(key))
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("re-encoding %x does not round-trip: %x, %v", key, again, err)
		}
	})
}
