{
  "targets": [
    {
      "target_name": "larder_mmap",
      "sources": ["larder_mmap.c"],
      "cflags": ["-std=c11", "-O3"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
