"""Result tables, paired significance and training curves across runs (`vepo compare`)."""
