#!/bin/sh
set -eu
echo "bootstrapping $(hostname)"
