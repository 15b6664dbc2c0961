"""The pretrained lifters shipped as package data (README.md here is their model card)."""
