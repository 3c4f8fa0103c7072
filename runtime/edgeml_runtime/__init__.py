"""Edge inference runtime: SageMaker hosting contract for the int8 ONNX sentiment model."""

__version__ = "1.0.0"
