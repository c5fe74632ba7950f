#!/bin/sh
set -eu
echo "app setup (APP_ENV=${APP_ENV:-unset})"
