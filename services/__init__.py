"""Domain logic shared by web and jobs."""
