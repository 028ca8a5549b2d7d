{
  "algorithm": "ed25519",
  "key_id": "5cde6efe4a3dfbe9",
  "signature": "9+4y9/y3GHpFRKUyiG9abycfl9vdGQP2QcwzMD5Gpl37vtiHtmsTpoJsjuGZRn1efZAfjipmZF3bEhWYg9D5Aw=="
}
