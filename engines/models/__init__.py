"""Models in: loading and inspecting every supported format, export to ONNX, user data, the bundled samples and the architecture zoo."""
