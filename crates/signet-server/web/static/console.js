// Signet console: small progressive enhancements (no inline script; CSP script-src 'self').
