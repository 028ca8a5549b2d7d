{
  "algorithm": "ed25519",
  "key_id": "27a28fab2d1ed9af",
  "signature": "DIhgcoKi09jbXuDqomxamjezNV6UfjqDXxN3XGw8qMLOOKJoUn6mWHqdJq5IVVR71NVC9+A9bMCqoLlRkTtvCg=="
}
