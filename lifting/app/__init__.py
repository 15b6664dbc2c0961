"""The application: lifting keypoint files and videos with a trained model (`lifting.app.inference`), tracking,
smoothing, world-grounded motion, pictures and the viewer, and BVH / glTF export."""
