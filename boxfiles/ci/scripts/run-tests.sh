#!/bin/sh
# Runs inside the guest (from `tests:` in the Boxfile), on the copy of the project that
# synced_folders put in /home/vagrant/src. Replace the body with your own test command; write
# the reports where `artifacts:` picks them up.
set -eu
cd "$HOME/src"
echo "running tests in $(pwd) on $(uname -sr)"
mkdir -p "$HOME/test-results"
files=$(find . -type f | wc -l)
cat > "$HOME/test-results/example.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="example" tests="1"><testcase name="the project is in the guest ($files files)"/></testsuite>
XML
