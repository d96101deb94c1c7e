"""Community features, each platform-neutral: welcome, unanswered posts, crisis, CW, signposting."""
