"""asv benchmark suite of fastconv (see ../asv.conf.json and ../../README.md)."""
