"""EKD losses (one function per paper equation) and the training strategies built on them."""
