// Package secretbox encrypts endpoint secrets at rest with AES-256-GCM under a key kept in
// the data directory (created 0600 on first start). Secrets must be recoverable to sign
// deliveries, so they are encrypted, not hashed. Sealed values are "v1:" + base64 of
// nonce || ciphertext || tag.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the key's file name in the data directory.
const KeyFile = "endpoint-secrets.key"

const prefix = "v1:"

// Box seals and opens secrets.
type Box struct {
	aead  cipher.AEAD
	label []byte // HMAC of a fixed label under the key: stable identifiers per installation
	kdf   []byte // HMAC of another fixed label under the key: the root of DeriveKey
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("chathooks installation id"))
	label := m.Sum(nil)
	m = hmac.New(sha256.New, key)
	m.Write([]byte("chathooks key derivation"))
	return &Box{aead: aead, label: label, kdf: m.Sum(nil)}, nil
}

// LoadOrCreate reads the key file in dir, creating it (0600, 32 random bytes, base64) if
// it does not exist.
func LoadOrCreate(dir string) (*Box, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("secretbox: create data dir: %w", err)
		}
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		enc := base64.StdEncoding.EncodeToString(key) + "\n"
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrExist) { // created meanwhile by another process
				return LoadOrCreate(dir)
			}
			return nil, fmt.Errorf("secretbox: create key file: %w", err)
		}
		if _, err := f.WriteString(enc); err != nil {
			f.Close()
			return nil, fmt.Errorf("secretbox: write key file: %w", err)
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("secretbox: write key file: %w", err)
		}
		return New(key)
	}
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("secretbox: key file %s is not base64: %w", path, err)
	}
	return New(key)
}

// Seal encrypts plain.
func (b *Box) Seal(plain string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, []byte(plain), nil)
	return prefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value.
func (b *Box) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", errors.New("secretbox: unknown sealed format")
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return "", errors.New("secretbox: malformed sealed value")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, data[:n], data[n:], nil)
	if err != nil {
		return "", errors.New("secretbox: cannot decrypt (wrong key file?)")
	}
	return string(plain), nil
}

// InstallationID is a UUID-shaped identifier stable for the key's lifetime (Sendbird's
// app_id); it reveals nothing of the key.
func (b *Box) InstallationID() string {
	h := hex.EncodeToString(b.label[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DeriveKey returns a 32-byte key for one purpose (e.g. signing console sessions), derived
// from the box's key: stable for the key's lifetime, independent between purposes, and
// revealing nothing of the key or of the other purposes' keys.
func (b *Box) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, b.kdf)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
