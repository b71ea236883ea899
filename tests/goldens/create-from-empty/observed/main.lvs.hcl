# nothing is configured yet
