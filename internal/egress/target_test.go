package egress

import (
	"errors"
	"testing"
)

func TestCheckTargetLiteralForms(t *testing.T) {
	refused := []string{
		"http://127.0.0.1:9099", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0x7f.0.0.1/",
		"http://0177.0.0.1/", "http://017700000001/", "http://127.0.0.1./", "http://0.0.0.0/", "http://0/",
		"http://localhost:8080/", "http://LOCALHOST/", "http://api.localhost/", "http://localhost./",
		"http://[::1]/", "http://[::]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[2002:7f00:1::]/",
		"http://[2002:a9fe:a9fe::]/", "http://[fe80::1%25eth0]/", "http://[fc00::1]/", "http://[64:ff9b::a9fe:a9fe]/",
		"http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
		"http://100.100.100.200/", "http://168.63.129.16/", "http://[fd00:ec2::254]/", "https://0xa9.0xfe.0xa9.0xfe/",
		"http://2852039166/", "http://0251.0376.0251.0376/", "http://224.0.0.1/", "http://255.255.255.255/",
	}
	for _, raw := range refused {
		if err := CheckTarget(raw); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckTarget(%q) = %v, want ErrForbiddenAddress", raw, err)
		}
	}
	allowed := []string{
		"https://hooks.example.com/chat", "http://93.184.215.14/", "http://[2606:4700::1111]/", "http://1.1.1.1:8443/x",
		"http://127.0.0.1.nip.io/", "http://localhost.example.com/", "http://0x7f.example/", "http://1.2.3.4.5/",
	}
	for _, raw := range allowed {
		if err := CheckTarget(raw); err != nil {
			t.Errorf("CheckTarget(%q) = %v, want nil (names are checked at dial)", raw, err)
		}
	}
}
