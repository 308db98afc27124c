# shellcheck shell=bash
# lambda_lib.sh — sourced after lib.sh by the tests that drive Lambda's own clients against trigd: Debian's
# AWS CLI ($AWS) and @aws-sdk/client-lambda (run through $SDK_JS with NODE_PATH set), both installed by
# ./dev test (the SDK in a cache outside the tree). The CLI reads only what the test writes: its config
# and credentials files live in $WORK, and no profile, session token or retry comes from outside.

AWS=/usr/bin/aws # Debian's awscli, never another aws on PATH
[[ -x "$AWS" ]] || skip_or_fail "$AWS not found (./dev test installs Debian's awscli)"
require_cmd node
SDK_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/trigd/awssdk
[[ -f "$SDK_DIR/node_modules/@aws-sdk/client-lambda/package.json" ]] ||
    skip_or_fail "@aws-sdk/client-lambda not in $SDK_DIR (./dev test installs it)"
export NODE_PATH="$SDK_DIR/node_modules" NODE_NO_WARNINGS=1
# shellcheck disable=SC2034 # used by the tests that source this file
SDK_JS="$(dirname "$0")/lambda_sdk.js"

export AWS_CONFIG_FILE="$WORK/aws_config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws_credentials" AWS_PAGER=""
export AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
export AWS_ACCESS_KEY_ID=AKIDANY AWS_SECRET_ACCESS_KEY=anything AWS_DEFAULT_REGION=us-east-1
