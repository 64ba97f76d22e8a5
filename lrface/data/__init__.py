"""Dataset readers and augmentation."""
