echo from bash "$@"
