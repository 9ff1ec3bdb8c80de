"""Tasks: a backbone + heads + objectives, compiled as one `keras.Model` for the trainer."""
