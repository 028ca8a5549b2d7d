{
  "algorithm": "ed25519",
  "key_id": "27a28fab2d1ed9af",
  "signature": "+ne2Y5Fp23FUhIaMcfUYtSe8kd38k2r38Vp8W0xoPhMcTfHf11ZB5WF7+HkNggzctP1/d7VH8g/TmtroDFsZDA=="
}
