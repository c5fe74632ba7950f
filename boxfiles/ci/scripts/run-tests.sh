#!/bin/sh
# Runs inside the guest, in the synced copy of the project.
set -eu
cd /home/vagrant/src
echo "running tests in $(pwd)"
