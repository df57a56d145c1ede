// Package webhook verifies the signed deliveries a chathooks server sends, in its three
// formats, for receivers written in Go. It depends on nothing but the standard library.
//
//   - standard: Standard Webhooks v1. Headers webhook-id, webhook-timestamp and
//     webhook-signature, the last holding one space-separated "v1,<base64>" item per live
//     secret (two during a secret rotation), each the HMAC-SHA256 of
//     "<webhook-id>.<webhook-timestamp>.<body>" keyed with the base64-decoded part of the
//     "whsec_..." secret. Receivers also check that the timestamp is recent.
//   - sendbird: x-sendbird-signature (and the same value in x-signature), the lowercase hex
//     HMAC-SHA256 of the raw body keyed with the secret's text; one header value per live
//     secret during a rotation.
//   - rbm: a Pub/Sub push envelope whose message.data is the base64 of the event JSON, with
//     X-Goog-Signature, the standard base64 HMAC-SHA512 of the decoded message.data keyed
//     with the clientToken. Before any event, the endpoint must answer the verification
//     handshake: a POST of {"clientToken", "secret"} answered with 200 and the secret as body.
//
// [Middleware] wraps an [http.Handler] so that it only sees verified requests (and answers
// the RBM handshake itself); [Standard], [Sendbird] and [RBM] verify a header and body you
// already hold; [VerifyStandard], [VerifySendbird] and [VerifyRBM] are the bare primitives,
// and the *Signature functions compute signatures, for tests of your own receivers.
//
// Every comparison is constant-time. The signing secret is the "secret" of the endpoint as
// the chathooks API returned it (or as you gave it) at creation or rotation.
package webhook
