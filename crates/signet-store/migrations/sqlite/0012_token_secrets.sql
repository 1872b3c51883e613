-- Tokens that may serve as a shared secret (CMP's password-based MAC, where the server
-- must compute the MAC itself): the secret is HMAC-SHA256(the server's token-secret key,
-- seed), so the server can recompute it without storing it. NULL for every other token,
-- whose secret exists nowhere but with its holder.
ALTER TABLE tokens ADD COLUMN secret_seed BLOB CHECK (secret_seed IS NULL OR length(secret_seed) = 16);
