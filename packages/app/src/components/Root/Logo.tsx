import { makeStyles } from '@material-ui/core/styles';
import Typography from '@material-ui/core/Typography';
import StorageIcon from '@material-ui/icons/Storage';

const useStyles = makeStyles({
  full: {
    display: 'flex',
    alignItems: 'center',
    gap: 6,
    color: '#7df3e1',
    whiteSpace: 'nowrap',
  },
  icon: {
    color: '#7df3e1',
    fontSize: 28,
  },
});

/** The wide logo of the open sidebar. */
export const LogoFull = () => {
  const classes = useStyles();
  return (
    <span className={classes.full}>
      <StorageIcon className={classes.icon} aria-hidden />
      <Typography
        variant="subtitle1"
        component="span"
        style={{ fontWeight: 700 }}
      >
        Volume Manager
      </Typography>
    </span>
  );
};

/** The square logo of the closed sidebar. */
export const LogoIcon = () => {
  const classes = useStyles();
  return <StorageIcon className={classes.icon} aria-hidden />;
};
