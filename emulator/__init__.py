"""Local stand-in for GCS, AutoML v1, Vertex AI and Firebase ML; imports nothing from components."""
