#!/bin/sh
# Runs on every machine before its own provisioners.
set -eu
echo "common setup on $(hostname)"
