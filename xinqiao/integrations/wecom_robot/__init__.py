"""企业微信 group robot: webhook client and local sandbox."""
