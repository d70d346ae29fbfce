"""What each built-in command does. gancompose/cli.py only declares the commands (arguments, options, help) and
calls the function of the same name here, one module per command or pair of commands; a plugin's commands live in
the plugin (the ``register_commands`` hook)."""
