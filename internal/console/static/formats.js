// How a receiver verifies each delivery format's signature, shown in the console and the
// portal. Code samples are plain text (rendered with textContent).
import { h } from './ui.js';

const guides = {
  standard: {
    title: 'Standard Webhooks (v1)',
    steps: [
      'Each request carries webhook-id, webhook-timestamp (Unix seconds) and webhook-signature headers.',
      'Take the secret after "whsec_", base64-decode it: that is the HMAC key.',
      'Compute HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${raw body}` and base64-encode it.',
      'webhook-signature holds space-separated "v1,<signature>" entries (two during a secret rotation): accept if any matches, compared in constant time.',
      'Reject timestamps more than 5 minutes from now, and remember webhook-id to drop repeats.',
    ],
    code: `// Node.js (or any Standard Webhooks library: npm standardwebhooks, pip standardwebhooks, Go standard-webhooks)
import crypto from 'node:crypto';
function verify(secret, headers, rawBody) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = \`\${headers['webhook-id']}.\${headers['webhook-timestamp']}.\${rawBody}\`;
  const want = crypto.createHmac('sha256', key).update(signed).digest();
  const age = Math.abs(Date.now() / 1000 - Number(headers['webhook-timestamp']));
  return age < 300 && headers['webhook-signature'].split(' ').some((s) => {
    const got = Buffer.from(s.split(',')[1] || '', 'base64');
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  });
}`,
  },
  sendbird: {
    title: 'Sendbird (x-sendbird-signature)',
    steps: [
      'Each request carries x-sendbird-signature: the lowercase hex HMAC-SHA256 of the raw body.',
      'The key is the secret exactly as shown (its bytes, not decoded).',
      'During a secret rotation the header appears twice, once per secret: accept if either matches.',
      'Compare in constant time, and compute over the raw body bytes before any JSON parsing.',
    ],
    code: `# Python
import hmac, hashlib
def verify(secret: str, raw_body: bytes, signatures: list[str]) -> bool:
    want = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, s.lower()) for s in signatures)`,
  },
  rbm: {
    title: 'Google RBM (Pub/Sub push, X-Goog-Signature)',
    steps: [
      'The body is a Pub/Sub push envelope; message.data is base64 of the event JSON.',
      'X-Goog-Signature is base64 of HMAC-SHA512(key = your clientToken, data = the base64-decoded message.data).',
      'Verification handshake: answer a POST of {"clientToken", "secret"} with status 200 and exactly the secret as the body.',
      'Compare in constant time; during a rotation the header appears once per secret.',
    ],
    code: `// Go
func verify(clientToken string, body []byte, sig string) bool {
	var env struct{ Message struct{ Data string } }
	if json.Unmarshal(body, &env) != nil { return false }
	data, err := base64.StdEncoding.DecodeString(env.Message.Data)
	if err != nil { return false }
	m := hmac.New(sha512.New, []byte(clientToken))
	m.Write(data)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}`,
  },
};

export function verifyGuide(format) {
  const g = guides[format] || guides.standard;
  return h('div', {},
    h('h3', {}, 'Verifying signatures: ' + g.title),
    h('ol', {}, g.steps.map((s) => h('li', {}, s))),
    h('pre', {}, h('code', {}, g.code)));
}
