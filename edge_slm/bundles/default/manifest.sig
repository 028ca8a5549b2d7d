{
  "algorithm": "ed25519",
  "key_id": "27a28fab2d1ed9af",
  "signature": "iw22e/cOlG2+/rl3llr1Xr8ri3+adwM3bdOYNbXOQmaR12VR0wUc5o99jvLfenw8gj5KkJUreTBvPYLeC50IAQ=="
}
