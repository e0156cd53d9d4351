"""Training a network: the ResNets, augmentation, the ALSO optimizer, the trainer and the
resumable training job."""
