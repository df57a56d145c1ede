package egress

// Exported for the external tests of this package.
var (
	FakeDNS       = fakeDNS
	SSRFLiterals  = ssrfLiterals
	SSRFNames     = ssrfNames
	INetAtonForms = inetAtonForms
)
