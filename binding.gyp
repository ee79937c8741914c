{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["src/link/tun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
