#!/usr/bin/env bash
echo "app says: $* | RUNTIME_VERSION=$RUNTIME_VERSION | GREETING=$GREETING | EXTRA_PATH=$EXTRA_PATH | static=$(cat static/index.txt)"
kiln-runtime "at launch"
