{
  "algorithm": "ed25519",
  "key_id": "27a28fab2d1ed9af",
  "signature": "tMvVTqPRjSKVd4OW1qc/ImG4lmul8nD05t0rrSzpRGvJsc83VC/2iiJiNhME6F6cLdp/1CqlfXPWbzxQsU6zCA=="
}
