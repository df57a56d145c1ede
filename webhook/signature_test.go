package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks worked example, shared by the reference JS
// and Python suites and recomputed independently.
const (
	goldenSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	goldenID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	goldenUnix   = 1614265330
	goldenBody   = `{"test": 2432232314}`
	goldenHeader = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustKey(t testing.TB, s string) []byte {
	t.Helper()
	k, err := DecodeStandardSecret(s)
	if err != nil {
		t.Fatalf("DecodeStandardSecret(%q): %v", s, err)
	}
	return k
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != "" {
		h.Set("webhook-timestamp", ts)
	}
	if sig != "" {
		h.Set("webhook-signature", sig)
	}
	return h
}

// independentV1 computes the v1 signature with nothing but crypto/hmac and string concatenation.
func independentV1(key []byte, id string, unix int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(unix, 10) + "." + string(body)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestStandardGoldenVector(t *testing.T) {
	key := mustKey(t, goldenSecret)
	if len(key) != 24 {
		t.Fatalf("golden key is %d bytes, want 24", len(key))
	}
	ts := time.Unix(goldenUnix, 0)
	got := StandardSignature([][]byte{key}, goldenID, ts, []byte(goldenBody))
	if got != goldenHeader {
		t.Fatalf("StandardSignature = %q, want %q", got, goldenHeader)
	}
	if got := StandardTimestamp(ts); got != "1614265330" {
		t.Fatalf("StandardTimestamp = %q", got)
	}
	h := headers(goldenID, "1614265330", goldenHeader)
	if err := VerifyStandard([][]byte{key}, h, []byte(goldenBody), ts.Add(90*time.Second), 0); err != nil {
		t.Fatalf("VerifyStandard(golden): %v", err)
	}
	// The same vector through SetStandardHeaders, read back with lower-case names.
	h2 := http.Header{}
	SetStandardHeaders(h2, [][]byte{key}, goldenID, ts, []byte(goldenBody))
	if h2.Get("webhook-id") != goldenID || h2.Get("webhook-timestamp") != "1614265330" || h2.Get("webhook-signature") != goldenHeader {
		t.Fatalf("SetStandardHeaders: %v", h2)
	}
	// The reference library agrees on the vector (timestamp check disabled: it reads time.Now).
	wh, err := standardwebhooks.NewWebhook(goldenSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.VerifyIgnoringTimestamp([]byte(goldenBody), h); err != nil {
		t.Fatalf("library rejects the golden header: %v", err)
	}
}

func TestNewStandardSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s, err := NewStandardSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+32 {
			t.Fatalf("secret %q: want whsec_ + 32 base64 characters", s)
		}
		raw := strings.TrimPrefix(s, "whsec_")
		key, err := base64.StdEncoding.Strict().DecodeString(raw)
		if err != nil || len(key) != 24 {
			t.Fatalf("secret %q: strict padded standard base64 of 24 bytes? %v, %d bytes", s, err, len(key))
		}
		if base64.StdEncoding.EncodeToString(key) != raw {
			t.Fatalf("secret %q is not canonical standard base64", s)
		}
		if k2 := mustKey(t, s); !bytes.Equal(k2, key) {
			t.Fatalf("DecodeStandardSecret(%q) disagrees", s)
		}
		if _, err := standardwebhooks.NewWebhook(s); err != nil {
			t.Fatalf("reference library rejects %q: %v", s, err)
		}
		if seen[s] {
			t.Fatalf("duplicate secret %q", s)
		}
		seen[s] = true
	}
}

func TestDecodeStandardSecret(t *testing.T) {
	golden, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	five := []byte("hello")
	ok := []struct {
		in   string
		want []byte
	}{
		{goldenSecret, golden},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", golden},
		{"whsec_aGVsbG8=", five}, // padded
		{"whsec_aGVsbG8", five},  // unpadded
		{"aGVsbG8", five},
		{"whsec_+/+/", []byte{0xfb, 0xff, 0xbf}},
		{"whsec_AA==", []byte{0}},
		{"whsec_AA", []byte{0}},
	}
	for _, c := range ok {
		got, err := DecodeStandardSecret(c.in)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("DecodeStandardSecret(%q) = %x, %v; want %x", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"",
		"whsec_",
		"whsec_====",
		"whsec_-_-_",           // URL-safe alphabet
		"whsec_aGVs bG8=",      // space
		"whsec_aGVs\nbG8=",     // encoding/base64 would skip the newline
		"whsec_aGVsbG8=\r\n",   // trailing CRLF
		"whsec_aG=VsbG8",       // padding in the middle
		"whsec_aGVsbG8===",     // too much padding
		"whsec_aGVsbG8A=",      // wrong padding length
		"whsec_a",              // 6 bits: not a byte
		"whsk_aGVsbG8=",        // asymmetric key prefix
		"whsec_whsec_aGVsbG8=", // prefix stripped once only
		"WHSEC_aGVsbG8=",       // prefix is case-sensitive
		"whsec_aGVsbG8\x00",    // NUL
		"whsec_aGVsbG8\u00e9",  // non-ASCII
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw.", // dot
	}
	for _, in := range bad {
		if got, err := DecodeStandardSecret(in); err == nil {
			t.Errorf("DecodeStandardSecret(%q) = %x, want an error", in, got)
		}
	}
}

// Sign with ours, verify with the reference library, and the other way round, including a
// rotation in which two secrets sign.
func TestCrossCheckReferenceLibrary(t *testing.T) {
	oldSecret, err := NewStandardSecret()
	if err != nil {
		t.Fatal(err)
	}
	newSecret, err := NewStandardSecret()
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey := mustKey(t, oldSecret), mustKey(t, newSecret)
	whOld, err := standardwebhooks.NewWebhook(oldSecret)
	if err != nil {
		t.Fatal(err)
	}
	whNew, err := standardwebhooks.NewWebhook(newSecret)
	if err != nil {
		t.Fatal(err)
	}
	third, _ := NewStandardSecret()
	whOther, _ := standardwebhooks.NewWebhook(third)

	// The library checks its tolerance against time.Now, so sign at the current time.
	now := time.Now()
	body := []byte(`{"type":"group_channel:message_send","timestamp":"2026-01-02T03:04:05Z","data":{"text":"héllo ✓"}}`)
	id := "evt_01jq3v6k8x9y0z1a2b3c4d5e6f"

	t.Run("ours to library", func(t *testing.T) {
		h := http.Header{}
		SetStandardHeaders(h, [][]byte{oldKey}, id, now, body)
		if err := whOld.Verify(body, h); err != nil {
			t.Fatalf("library rejects our signature: %v", err)
		}
		if err := whNew.Verify(body, h); err == nil {
			t.Fatal("library accepts our signature under the wrong secret")
		}
		if err := whOld.Verify(append([]byte{}, append(body, ' ')...), h); err == nil {
			t.Fatal("library accepts a changed body")
		}
	})

	t.Run("library to ours", func(t *testing.T) {
		sig, err := whOld.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		if want := StandardSignature([][]byte{oldKey}, id, now, body); sig != want {
			t.Fatalf("library signs %q, we sign %q", sig, want)
		}
		h := headers(id, strconv.FormatInt(now.Unix(), 10), sig)
		if err := VerifyStandard([][]byte{oldKey}, h, body, now, 0); err != nil {
			t.Fatalf("we reject the library's signature: %v", err)
		}
		if err := VerifyStandard([][]byte{newKey}, h, body, now, 0); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("wrong secret: err = %v, want ErrNoMatch", err)
		}
		// Rotation on the receiving side: we hold both secrets, the sender only the old one.
		if err := VerifyStandard([][]byte{newKey, oldKey}, h, body, now, 0); err != nil {
			t.Fatalf("verify with rotated secrets: %v", err)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		h := http.Header{}
		SetStandardHeaders(h, [][]byte{oldKey, newKey}, id, now, body)
		sig := h.Get("webhook-signature")
		items := strings.Split(sig, " ")
		if len(items) != 2 {
			t.Fatalf("rotation header %q: want two items", sig)
		}
		for i, wh := range []*standardwebhooks.Webhook{whOld, whNew} {
			if err := wh.Verify(body, h); err != nil {
				t.Fatalf("library with secret %d rejects the rotation header: %v", i, err)
			}
			own, _ := wh.Sign(id, now, body)
			if items[i] != own {
				t.Fatalf("item %d = %q, library signs %q", i, items[i], own)
			}
		}
		if err := whOther.Verify(body, h); err == nil {
			t.Fatal("library with an unrelated secret accepts the rotation header")
		}
		for _, keys := range [][][]byte{{oldKey}, {newKey}, {newKey, oldKey}} {
			if err := VerifyStandard(keys, h, body, now, 0); err != nil {
				t.Fatalf("VerifyStandard(rotation header, %d keys): %v", len(keys), err)
			}
		}
		// Library-made rotation header (two Sign results joined) verifies with ours.
		s1, _ := whOld.Sign(id, now, body)
		s2, _ := whNew.Sign(id, now, body)
		lh := headers(id, strconv.FormatInt(now.Unix(), 10), s1+" "+s2)
		if err := VerifyStandard([][]byte{newKey}, lh, body, now, 0); err != nil {
			t.Fatalf("ours rejects a library rotation header: %v", err)
		}
	})
}

func TestStandardSignatureShape(t *testing.T) {
	k1, k2 := []byte("first key......"), []byte("second key.....")
	ts := time.Unix(1700000000, 999_999_999) // sub-second part is dropped
	body := []byte("{}")
	if got := StandardSignature(nil, "msg_1", ts, body); got != "" {
		t.Fatalf("no secrets: %q", got)
	}
	if got := StandardSignature([][]byte{{}, nil}, "msg_1", ts, body); got != "" {
		t.Fatalf("only empty secrets: %q", got)
	}
	want := "v1," + independentV1(k1, "msg_1", 1700000000, body) + " v1," + independentV1(k2, "msg_1", 1700000000, body)
	if got := StandardSignature([][]byte{k1, nil, k2}, "msg_1", ts, body); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Pre-1970 and empty bodies still sign the decimal form.
	if got, want := StandardSignature([][]byte{k1}, "m", time.Unix(-5, 0), nil), "v1,"+independentV1(k1, "m", -5, nil); got != want {
		t.Fatalf("negative timestamp: %q, want %q", got, want)
	}
}

func TestVerifyStandardCases(t *testing.T) {
	key := mustKey(t, goldenSecret)
	other := []byte("another secret, not the golden one")
	keys := [][]byte{key}
	body := []byte(goldenBody)
	ts := time.Unix(goldenUnix, 0)
	good := goldenHeader
	tsText := "1614265330"
	v1a := "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="

	cases := []struct {
		name    string
		keys    [][]byte
		h       http.Header
		body    []byte
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"valid", keys, headers(goldenID, tsText, good), body, ts, 0, nil},
		{"valid, lower edge of tolerance", keys, headers(goldenID, tsText, good), body, ts.Add(5 * time.Minute), 0, nil},
		{"valid, upper edge of tolerance", keys, headers(goldenID, tsText, good), body, ts.Add(-5 * time.Minute), 0, nil},
		{"valid, second of two secrets", [][]byte{other, key}, headers(goldenID, tsText, good), body, ts, 0, nil},
		{"valid, among other items", keys, headers(goldenID, tsText, v1a+" v1,AAAA "+good+" v2,xyz"), body, ts, 0, nil},
		{"valid, doubled spaces", keys, headers(goldenID, tsText, "  v1,bad  "+good+" "), body, ts, 0, nil},
		{"valid, custom tolerance", keys, headers(goldenID, tsText, good), body, ts.Add(time.Hour), 2 * time.Hour, nil},
		{"changed body", keys, headers(goldenID, tsText, good), []byte(`{"test":2432232314}`), ts, 0, ErrNoMatch},
		{"empty body", keys, headers(goldenID, tsText, good), nil, ts, 0, ErrNoMatch},
		{"changed id", keys, headers(goldenID+"x", tsText, good), body, ts, 0, ErrNoMatch},
		{"changed timestamp", keys, headers(goldenID, "1614265331", good), body, ts, 0, ErrNoMatch},
		{"timestamp with sign", keys, headers(goldenID, "+1614265330", good), body, ts, 0, nil},
		{"wrong secret", [][]byte{other}, headers(goldenID, tsText, good), body, ts, 0, ErrNoMatch},
		{"no secrets", nil, headers(goldenID, tsText, good), body, ts, 0, ErrNoMatch},
		{"only empty secret", [][]byte{{}}, headers(goldenID, tsText, "v1,"+independentV1(nil, goldenID, goldenUnix, body)), body, ts, 0, ErrNoMatch},
		{"old timestamp", keys, headers(goldenID, tsText, good), body, ts.Add(5*time.Minute + time.Second), 0, ErrTimestamp},
		{"future timestamp", keys, headers(goldenID, tsText, good), body, ts.Add(-5*time.Minute - time.Second), 0, ErrTimestamp},
		{"old beyond custom tolerance", keys, headers(goldenID, tsText, good), body, ts.Add(time.Minute + time.Nanosecond), time.Minute, ErrTimestamp},
		{"timestamp not a number", keys, headers(goldenID, "16142653.30", good), body, ts, 0, ErrTimestamp},
		{"timestamp in milliseconds", keys, headers(goldenID, "1614265330000", good), body, ts, 0, ErrTimestamp},
		{"timestamp overflow", keys, headers(goldenID, "99999999999999999999", good), body, ts, 0, ErrTimestamp},
		{"timestamp huge", keys, headers(goldenID, "9223372036854775807", good), body, ts, 0, ErrTimestamp},
		{"timestamp very negative", keys, headers(goldenID, "-9223372036854775808", good), body, ts, 0, ErrTimestamp},
		{"timestamp RFC 3339", keys, headers(goldenID, "2021-02-25T15:02:10Z", good), body, ts, 0, ErrTimestamp},
		{"missing id", keys, headers("", tsText, good), body, ts, 0, ErrMissingHeaders},
		{"missing timestamp", keys, headers(goldenID, "", good), body, ts, 0, ErrMissingHeaders},
		{"missing signature", keys, headers(goldenID, tsText, ""), body, ts, 0, ErrMissingHeaders},
		{"no headers", keys, http.Header{}, body, ts, 0, ErrMissingHeaders},
		{"nil header", keys, nil, body, ts, 0, ErrMissingHeaders},
		{"signature without version", keys, headers(goldenID, tsText, strings.TrimPrefix(good, "v1,")), body, ts, 0, ErrNoMatch},
		{"signature with other version", keys, headers(goldenID, tsText, "v2,"+strings.TrimPrefix(good, "v1,")), body, ts, 0, ErrNoMatch},
		{"signature upper-case version", keys, headers(goldenID, tsText, "V1,"+strings.TrimPrefix(good, "v1,")), body, ts, 0, ErrNoMatch},
		{"signature only v1a", keys, headers(goldenID, tsText, v1a), body, ts, 0, ErrNoMatch},
		{"signature truncated", keys, headers(goldenID, tsText, good[:len(good)-1]), body, ts, 0, ErrNoMatch},
		{"signature with extra", keys, headers(goldenID, tsText, good+"="), body, ts, 0, ErrNoMatch},
		{"signature trailing field", keys, headers(goldenID, tsText, good+",x"), body, ts, 0, ErrNoMatch},
		{"signature unpadded", keys, headers(goldenID, tsText, strings.TrimSuffix(good, "=")), body, ts, 0, ErrNoMatch},
		{"signature URL-safe", keys, headers(goldenID, tsText, strings.NewReplacer("+", "-", "/", "_").Replace(good)), body, ts, 0, ErrNoMatch},
		{"signature comma-joined", keys, headers(goldenID, tsText, "v1,AAAA,"+good), body, ts, 0, ErrNoMatch},
		{"signature bare prefix", keys, headers(goldenID, tsText, "v1,"), body, ts, 0, ErrNoMatch},
		{"signature garbage", keys, headers(goldenID, tsText, "\x00\xff,,, \t"), body, ts, 0, ErrNoMatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifyStandard(c.keys, c.h, c.body, c.now, c.tol)
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
		})
	}
}

func TestVerifyStandardManySecrets(t *testing.T) {
	var keys [][]byte
	for i := range 5 {
		keys = append(keys, []byte("key number "+strconv.Itoa(i)))
	}
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	h := http.Header{}
	SetStandardHeaders(h, keys[4:], "msg_x", ts, body)
	if err := VerifyStandard(keys, h, body, ts, 0); err != nil {
		t.Fatalf("last of five secrets: %v", err)
	}
	if err := VerifyStandard(keys[:4], h, body, ts, 0); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("without the signing secret: %v", err)
	}
}

const (
	sendbirdToken = "my-master-api-token"
	sendbirdBody  = `{"category":"user:block","app_id":"00000000-0000-0000-0000-000000000000"}`
	// Computed independently: printf '%s' "$body" | openssl dgst -sha256 -hmac "$token".
	sendbirdKAT = "7fd1710c176519c652f52728fa0c085fe797f76e35e9c8119977fe989582ff0d"

	rbmToken = "SJENCPGJESMGUFPY" // the clientToken of the RBM docs' handshake example
	rbmEvent = `{"senderPhoneNumber":"+15550000000","eventType":"READ","eventId":"e1","messageId":"m1","sendTime":"2025-01-02T03:04:05.678Z","agentId":"a@rbm.goog"}`
	// printf '%s' "$event" | openssl dgst -sha512 -hmac "$token" -binary | base64 -w0
	rbmKAT = "IyzXfVTficpByu0lEW6AxzgxVLO+eOn0Scp5iOyMmKSE/daOJ8e1Nn+tUe5++vFfGYZlxVYVLP7S+cr9+ejZJw=="
)

func TestSendbird(t *testing.T) {
	body := []byte(sendbirdBody)
	got := SendbirdSignature(sendbirdToken, body)
	if got != sendbirdKAT {
		t.Fatalf("SendbirdSignature = %s, want %s", got, sendbirdKAT)
	}
	// As the docs describe it (and Sendbird's Python sample: hmac.new(token, body, sha256).hexdigest()).
	m := hmac.New(sha256.New, []byte(sendbirdToken))
	m.Write(body)
	if want := hex.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("SendbirdSignature = %s, crypto/hmac gives %s", got, want)
	}
	if !VerifySendbird(sendbirdToken, body, got) {
		t.Fatal("VerifySendbird rejects its own signature")
	}
	if !VerifySendbird(sendbirdToken, body, strings.ToUpper(got)) {
		t.Fatal("VerifySendbird rejects upper-case hex")
	}
	for name, c := range map[string]struct {
		secret string
		body   string
		sig    string
	}{
		"changed body":   {sendbirdToken, sendbirdBody + " ", got},
		"wrong secret":   {sendbirdToken + "x", sendbirdBody, got},
		"empty secret":   {"", sendbirdBody, SendbirdSignature("", body)},
		"truncated":      {sendbirdToken, sendbirdBody, got[:63]},
		"extended":       {sendbirdToken, sendbirdBody, got + "0"},
		"not hex":        {sendbirdToken, sendbirdBody, "z" + got[1:]},
		"empty":          {sendbirdToken, sendbirdBody, ""},
		"base64 instead": {sendbirdToken, sendbirdBody, base64.StdEncoding.EncodeToString(m.Sum(nil))},
		"flipped digit":  {sendbirdToken, sendbirdBody, got[:10] + string(got[10]^1) + got[11:]},
	} {
		if VerifySendbird(c.secret, []byte(c.body), c.sig) {
			t.Errorf("%s: VerifySendbird accepted", name)
		}
	}
	if s := SendbirdSignature(sendbirdToken, nil); len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("empty body signature %q", s)
	}
}

func TestRBM(t *testing.T) {
	data := []byte(rbmEvent)
	got := RBMSignature(rbmToken, data)
	if got != rbmKAT {
		t.Fatalf("RBMSignature = %s, want %s", got, rbmKAT)
	}
	m := hmac.New(sha512.New, []byte(rbmToken))
	m.Write(data)
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("RBMSignature = %s, crypto/hmac gives %s", got, want)
	}
	if !VerifyRBM(rbmToken, data, got) {
		t.Fatal("VerifyRBM rejects its own signature")
	}
	// The signature covers the decoded message.data, not the base64 text or the envelope.
	encoded := []byte(base64.StdEncoding.EncodeToString(data))
	if VerifyRBM(rbmToken, encoded, got) {
		t.Fatal("VerifyRBM accepted the signature over the still-encoded data")
	}
	for name, c := range map[string]struct {
		token, data, sig string
	}{
		"changed data":  {rbmToken, rbmEvent + "\n", got},
		"wrong token":   {"SJENCPGJESMGUFPZ", rbmEvent, got},
		"empty token":   {"", rbmEvent, RBMSignature("", data)},
		"unpadded":      {rbmToken, rbmEvent, strings.TrimRight(got, "=")},
		"url-safe":      {rbmToken, rbmEvent, strings.NewReplacer("+", "-", "/", "_").Replace(got)},
		"hex instead":   {rbmToken, rbmEvent, hex.EncodeToString(m.Sum(nil))},
		"sha256 length": {rbmToken, rbmEvent, got[:44]},
		"empty":         {rbmToken, rbmEvent, ""},
		"flipped char":  {rbmToken, rbmEvent, "J" + got[1:]},
	} {
		if VerifyRBM(c.token, []byte(c.data), c.sig) {
			t.Errorf("%s: VerifyRBM accepted", name)
		}
	}
}

func TestStandardSignatureAllocs(t *testing.T) {
	keys := [][]byte{mustKey(t, goldenSecret)}
	body := bytes.Repeat([]byte("x"), 1024)
	ts := time.Unix(goldenUnix, 0)
	allocs := testing.AllocsPerRun(100, func() { _ = StandardSignature(keys, goldenID, ts, body) })
	t.Logf("StandardSignature, 1 secret: %.0f allocs", allocs)
	if allocs > 12 {
		t.Fatalf("StandardSignature allocates %.0f times per call", allocs)
	}
}

func benchmarkStandardSignature(b *testing.B, nSecrets int) {
	keys := make([][]byte, nSecrets)
	for i := range keys {
		s, err := NewStandardSecret()
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = mustKey(b, s)
	}
	body := bytes.Repeat([]byte(`{"k":"v"},`), 103)[:1024]
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = StandardSignature(keys, "evt_01jq3v6k8x9y0z1a2b3c4d5e6f", ts, body)
	}
}

func BenchmarkStandardSignature1KiB(b *testing.B) {
	b.Run("1secret", func(b *testing.B) { benchmarkStandardSignature(b, 1) })
	b.Run("2secrets", func(b *testing.B) { benchmarkStandardSignature(b, 2) })
}

func BenchmarkVerifyStandard1KiB(b *testing.B) {
	key := mustKey(b, goldenSecret)
	body := bytes.Repeat([]byte("x"), 1024)
	ts := time.Unix(goldenUnix, 0)
	h := http.Header{}
	SetStandardHeaders(h, [][]byte{key}, goldenID, ts, body)
	keys := [][]byte{key}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyStandard(keys, h, body, ts, 0); err != nil {
			b.Fatal(err)
		}
	}
}
